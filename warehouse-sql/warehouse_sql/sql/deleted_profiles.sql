-- The profiles deleted in Klaviyo (a data-privacy deletion, the UI's delete, a merge that removed one): rows of
-- PROFILES that the account's latest complete listing of profile ids no longer holds, though created well before the
-- listing started. Klaviyo publishes no list of deleted profiles; a reader learns of one only by no longer seeing it.
--
-- PROFILE_IDS and PROFILE_LISTINGS are tap-klaviyo's `profile_ids` and `profile_listings` streams: every profile id
-- of an account (`listed_at` = when that listing started), and one row per account for its latest listing that ran
-- to the end (`started_at`, `completed_at`), written only after every id of that listing. A profile created less than
-- {margin_hours} hours before a listing started may not be in it yet (Klaviyo is eventually consistent): the next
-- listing decides.
CREATE OR REPLACE VIEW {schema}.DELETED_PROFILES AS
SELECT p.account_id, p.id, l.completed_at AS detected_at
FROM {schema}.PROFILES AS p
JOIN {schema}.PROFILE_LISTINGS AS l ON p.account_id = l.account_id
WHERE p.created < DATEADD(hour, -{margin_hours}, l.started_at)
    AND NOT EXISTS (
        SELECT 1
        FROM {schema}.PROFILE_IDS AS i
        WHERE i.account_id = p.account_id AND i.id = p.id AND i.listed_at >= l.started_at
    )
