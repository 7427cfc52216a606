-- How many people actually engaged, the last 30 days: distinct persons (a person
-- engaging from two networks counts once; colleagues left out) beside the summed
-- engagement count advocacy tools report, and their share of the true community.
SELECT
    uniqExactIf(person, NOT colleague) AS engaged_persons,
    count() AS engagements,
    (SELECT any(true_community) FROM community_headline) AS true_community,
    round(if(true_community = 0, 0, engaged_persons / true_community), 4) AS share_of_community
FROM engagement_persons
WHERE occurred_at >= now() - INTERVAL 30 DAY
