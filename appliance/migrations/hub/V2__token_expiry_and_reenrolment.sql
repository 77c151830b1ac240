-- Enrolment tokens expire (tram district token --valid-days, 7 by default; NULL: a token
-- issued before they did), and the school list shows when a box enrolled again for a school.
ALTER TABLE hub_tokens ADD COLUMN expires_at text;
ALTER TABLE hub_schools ADD COLUMN reenrolled_at text;
