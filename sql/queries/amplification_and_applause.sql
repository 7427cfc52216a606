-- Amplification (shares per post) and applause (likes per post) by network, the last
-- 30 days: engagements of the window over posts of the window.
SELECT
    network,
    posts,
    shares,
    likes,
    round(if(posts = 0, 0, shares / posts), 2) AS amplification,
    round(if(posts = 0, 0, likes / posts), 2) AS applause
FROM (
    SELECT network, count() AS posts
    FROM post_conversation
    WHERE occurred_at >= now() - INTERVAL 30 DAY
    GROUP BY network
) AS p
ANY LEFT JOIN (
    SELECT network, countIf(kind = 'share') AS shares, countIf(kind = 'like') AS likes
    FROM engagement_persons
    WHERE occurred_at >= now() - INTERVAL 30 DAY
    GROUP BY network
) AS e USING network
ORDER BY posts DESC
