-- Each school's học bạ signing CA (PEM), sent by the box over the relay and replaced when it
-- changes: the hub verifies any school's signed học bạ against it (district::verify_hocba).
CREATE TABLE hub_signing_cas (
    school text COLLATE "C" PRIMARY KEY REFERENCES hub_schools (code),
    pem    text NOT NULL,
    at     text NOT NULL
);
