-- Each school's report part (district::reports::PartCounts, JSON): the sums the staff's reports
-- add up, updated in the transaction that stores each of the school's batches, so a hub start
-- reads one small row per school instead of every record. Schools from before this table get
-- theirs counted from their records once (district::reports::build_missing_parts, at start).
CREATE TABLE hub_report_parts (
    school text COLLATE "C" PRIMARY KEY REFERENCES hub_schools (code),
    part   bytea NOT NULL
);
