-- What a post is (original, reply, repost) and what it answers: the post's id on
-- its network and its author, pseudonymised like every third-party account (an
-- employee's account is recognisable by `employees.account_pseudonyms`).
-- Empty when the source does not say (events from before these fields).
ALTER TABLE posts ADD COLUMN kind String DEFAULT '', ADD COLUMN in_reply_to String DEFAULT '', ADD COLUMN in_reply_to_author String DEFAULT '';
