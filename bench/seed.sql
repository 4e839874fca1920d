-- The benchmark data set, loaded into a freshly migrated bench database (never the developer's).
-- bench/run.py sets the parameters on the session first:
--   SET bench.requests = '1000000'; SET bench.authorities = '1000'; SET bench.officers = '20000';
--   SET bench.countries = 'AT,BE,...';  (authorities.constants.EU_MEMBER_STATES)
--   SET bench.year = '2026';
-- and runs one step at a time (the `-- step:` lines), timing each.
-- Ids are explicit (officer j is user 100 + j, request n is id n; the legal team below), so rows
-- refer to each other without lookups; the identity sequences are moved past them at the end.
-- Officer 1 (user 101, bench-officer@...) is "the officer with many requests": one request in 200.

-- step: authorities
INSERT INTO authorities_authority (
    id, name, name_en, country, kind, instruments, callback_phone, source_list, source_reference,
    source_checked, status, status_reason, status_changed_at, colleagues_see_requests, updated_at)
SELECT
    c.country || '-B' || lpad(a::text, 4, '0'),
    'Autorité ' || a, 'Bench authority ' || a, c.country,
    (ARRAY['court', 'investigating_judge', 'prosecutor', 'police', 'tco_authority', 'other',
           'prosecutor'])[1 + (a - 1) % 7],
    '["epoc", "epoc_pr", "tco_removal", "dsa_art9", "dsa_art10", "emergency_disclosure",
      "inquiry"]',
    '+3210' || lpad(a::text, 7, '0'), 'Bench registry', 'https://bench.example/registry',
    DATE '2026-11-01', 'active', '', now(), false, now()
FROM generate_series(1, current_setting('bench.authorities')::int) AS a
CROSS JOIN LATERAL (
    SELECT (string_to_array(current_setting('bench.countries'), ','))[
        1 + (a - 1) % array_length(string_to_array(current_setting('bench.countries'), ','), 1)
    ] AS country
) AS c;

INSERT INTO authorities_authoritydomain (domain, authority_id)
SELECT lower(id) || '.bench.example', id FROM authorities_authority;

-- step: users
-- The legal team: reviewers 1..10 and leads 1..2 (the groups come from migration 0003). Most were
-- there first (ids 1..9 and 11); reviewer 10 and lead 2 joined after the officers (the last ids),
-- as a team that grows over the years does.
INSERT INTO authorities_user (
    id, password, is_superuser, email, full_name, is_active, is_staff, is_authority_contact,
    date_joined, email_verified_at, preferred_language, on_duty)
SELECT CASE u WHEN 10 THEN 100 + current_setting('bench.officers')::int + 1
              WHEN 12 THEN 100 + current_setting('bench.officers')::int + 2 ELSE u END, '!', false,
    CASE WHEN u <= 10 THEN 'reviewer' || u ELSE 'lead' || (u - 10) END || '@platform.example',
    CASE WHEN u <= 10 THEN 'Reviewer ' || u ELSE 'Lead ' || (u - 10) END,
    true, false, false, now() - interval '2 years', now() - interval '2 years', 'en', true
FROM generate_series(1, 12) AS u;

INSERT INTO authorities_user_groups (user_id, group_id)
SELECT u.id, g.id
FROM authorities_user AS u
JOIN auth_group AS g ON g.name = CASE WHEN u.email LIKE 'lead%' THEN 'lead' ELSE 'reviewer' END
WHERE u.email LIKE '%@platform.example';

-- Officers: officer j belongs to authority 1 + (j - 1) % authorities, approved a year ago by
-- lead 1; on_duty as the model's default leaves it (it only matters for the legal team).
INSERT INTO authorities_user (
    id, password, is_superuser, email, full_name, is_active, is_staff, is_authority_contact,
    date_joined, email_verified_at, approved_at, approved_by_id, preferred_language,
    authority_id, on_duty)
SELECT 100 + j, '!', false,
    CASE WHEN j = 1 THEN 'bench-officer' ELSE 'officer' || j END || '@' || d.domain,
    'Officer ' || j, true, false, false,
    now() - interval '400 days', now() - interval '400 days', now() - interval '399 days', 11,
    'en', d.authority_id, true
FROM generate_series(1, current_setting('bench.officers')::int) AS j
JOIN (
    SELECT row_number() OVER (ORDER BY substr(authority_id, 5)) AS a, authority_id, domain
    FROM authorities_authoritydomain
) AS d ON d.a = 1 + (j - 1) % current_setting('bench.authorities')::int;

-- step: requests
-- One row per request from a few random draws: u1 the status, u2 the instrument, u3 emergency
-- and assignment, u4 the dates. Open requests are due from two days overdue to 60 days ahead;
-- a clarification stops the clock (due_at NULL, last in the queue).
INSERT INTO requests_app_legalrequest (
    id, public_id, reference, instrument, status, authority_id, officer_id, is_emergency,
    case_reference, legal_basis, offence, threshold_met, data_categories, statement_of_reasons,
    redress_information, territorial_scope, confidential, emergency_justification,
    validating_authority, language, created_at, updated_at, received_at, due_at, clock_stopped_at,
    preservation_until, submitted_device, assignee_id, deadline_version, deadline_changed_at,
    next_alert_at, answered_at)
SELECT
    r.n, gen_random_uuid(),
    CASE WHEN r.status = 'draft' THEN NULL
         ELSE 'LR-' || current_setting('bench.year') || '-'
              || lpad(r.n::text, greatest(6, length(r.n::text)), '0') END,
    r.instrument, r.status, o.authority_id, o.id,
    r.instrument = 'emergency_disclosure' OR (r.instrument IN ('epoc', 'epoc_pr') AND r.u3 < 0.05),
    'CASE-' || r.n, 'Bench legal basis', '', r.instrument IN ('epoc', 'epoc_pr'),
    CASE WHEN r.instrument IN ('epoc', 'epoc_pr', 'emergency_disclosure')
         THEN '["subscriber", "identification"]' ELSE '[]' END::jsonb,
    'Bench statement of reasons for request ' || r.n, '', '', false, '', '', 'en',
    r.received_at - interval '20 minutes', r.received_at, r.received_at,
    CASE WHEN r.status IN ('submitted', 'in_review')
             THEN date_trunc('minute', now() - interval '2 days' + r.u4 * interval '62 days')
         WHEN r.status = 'clarification' THEN NULL
         ELSE r.received_at + interval '10 days' END,
    CASE WHEN r.status = 'clarification' THEN now() - r.u4 * interval '3 days' END,
    CASE WHEN r.instrument = 'epoc_pr' THEN r.received_at + interval '60 days' END,
    '', CASE WHEN r.status IN ('submitted', 'in_review', 'clarification') AND r.u3 < 0.3
             THEN 1 + (r.n % 9) END,  -- reviewers 1..9
    CASE WHEN r.status = 'draft' THEN 0 ELSE 1 END,
    CASE WHEN r.status = 'draft' THEN NULL ELSE r.received_at END,
    -- Open requests' next alert lies beyond the benchmark (the sweep runs find only what the
    -- benchmark makes due); resolved requests have none.
    CASE WHEN r.status IN ('submitted', 'in_review', 'clarification')
         THEN now() + interval '1 day' + r.u4 * interval '30 days' END,
    CASE WHEN r.status IN ('preserved', 'responded', 'partially_responded', 'refused', 'closed')
         THEN r.received_at + interval '5 days' END
FROM (
    SELECT s.n, s.u3, s.u4,
        CASE WHEN s.status = 'preserved' THEN 'epoc_pr' ELSE s.instrument END AS instrument,
        s.status,
        CASE WHEN s.status IN ('draft', 'submitted', 'in_review', 'clarification')
             THEN now() - s.u4 * interval '10 days'
             ELSE now() - interval '15 days' - s.u4 * interval '3 years' END AS received_at,
        CASE WHEN s.n % 200 = 0 THEN 1
             ELSE 1 + (s.n::bigint * 7919) % current_setting('bench.officers')::int END AS officer
    FROM (
        SELECT g.n, g.u3, g.u4,
            CASE WHEN g.u1 < 0.01 THEN 'draft' WHEN g.u1 < 0.09 THEN 'submitted'
                 WHEN g.u1 < 0.19 THEN 'in_review' WHEN g.u1 < 0.21 THEN 'clarification'
                 WHEN g.u1 < 0.24 THEN 'preserved' WHEN g.u1 < 0.46 THEN 'responded'
                 WHEN g.u1 < 0.49 THEN 'partially_responded' WHEN g.u1 < 0.54 THEN 'refused'
                 WHEN g.u1 < 0.56 THEN 'withdrawn' ELSE 'closed' END AS status,
            CASE WHEN g.u2 < 0.30 THEN 'epoc' WHEN g.u2 < 0.42 THEN 'epoc_pr'
                 WHEN g.u2 < 0.47 THEN 'tco_removal' WHEN g.u2 < 0.57 THEN 'dsa_art9'
                 WHEN g.u2 < 0.67 THEN 'dsa_art10' WHEN g.u2 < 0.70 THEN 'emergency_disclosure'
                 ELSE 'inquiry' END AS instrument
        FROM (
            SELECT n, random() AS u1, random() AS u2, random() AS u3, random() AS u4
            FROM generate_series(1, current_setting('bench.requests')::int) AS n
        ) AS g
    ) AS s
) AS r
JOIN authorities_user AS o ON o.id = 100 + r.officer;

-- step: targets
INSERT INTO requests_app_requesttarget (id, request_id, kind, value)
SELECT id, id, 'username', '@bench.' || id FROM requests_app_legalrequest;

-- step: events
-- The 'submitted' event of every submitted request (the 'created' one of a draft).
INSERT INTO requests_app_requestevent (
    id, request_id, kind, at, actor_id, from_status, to_status, visible_to_authority, detail)
SELECT id, id,
    CASE WHEN status = 'draft' THEN 'created' ELSE 'submitted' END,
    coalesce(received_at, created_at), officer_id,
    CASE WHEN status = 'draft' THEN '' ELSE 'draft' END,
    CASE WHEN status = 'draft' THEN '' ELSE 'submitted' END, true, ''
FROM requests_app_legalrequest;

-- step: notifications
-- The acknowledgment e-mail of every submitted request, long sent: the outbox as it is after
-- years of use (its unique indexes are what each new alert is inserted into).
INSERT INTO requests_app_notification (
    id, key, recipients, template, context, language, state, created_at, send_after, attempts,
    last_error, sent_at, message_id, request_id, alert_kind, recovered_after_crash)
SELECT r.id, 'ack:' || r.id, jsonb_build_array(u.email), 'request_received', '{}', 'en', 'sent',
    r.received_at, r.received_at, 1, '', r.received_at + interval '3 seconds',
    '<ack.' || r.id || '@bench.example>', r.id, '', false
FROM requests_app_legalrequest AS r JOIN authorities_user AS u ON u.id = r.officer_id
WHERE r.status <> 'draft';

-- step: counters
-- The next submission numbers after the seeded references.
INSERT INTO requests_app_referencecounter (year, last)
VALUES (current_setting('bench.year')::int, current_setting('bench.requests')::int);

SELECT setval(pg_get_serial_sequence('authorities_user', 'id'),
              (SELECT max(id) FROM authorities_user));
SELECT setval(pg_get_serial_sequence('requests_app_legalrequest', 'id'),
              (SELECT max(id) FROM requests_app_legalrequest));
SELECT setval(pg_get_serial_sequence('requests_app_requesttarget', 'id'),
              (SELECT max(id) FROM requests_app_requesttarget));
SELECT setval(pg_get_serial_sequence('requests_app_requestevent', 'id'),
              (SELECT max(id) FROM requests_app_requestevent));
SELECT setval(pg_get_serial_sequence('requests_app_notification', 'id'),
              (SELECT max(id) FROM requests_app_notification));
