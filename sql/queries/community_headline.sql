-- The one figure to quote, with what it is made of.
SELECT true_community, interval_low, interval_high, counted_exactly, naive_reach, taken_at
FROM community_headline
