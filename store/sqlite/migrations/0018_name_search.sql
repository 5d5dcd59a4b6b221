-- 0017: certificate name search (?name=) by index. An FTS5 table with the
-- trigram tokenizer (case-insensitive) holds each certificate's subject and
-- names (the same JSON text as certificates.names); a phrase of three or
-- more characters matches exactly the rows that contain it as a substring.
-- It is keyed by serial, not rowid: certificates has no INTEGER PRIMARY
-- KEY, so its rowids may change on VACUUM. Triggers keep it in step;
-- certificates are never deleted nor renamed, so the delete and update
-- triggers (which look the serial up without an index) never run in
-- practice.
CREATE VIRTUAL TABLE certificates_names USING fts5(serial UNINDEXED, subject, names, tokenize = 'trigram');
INSERT INTO certificates_names (serial, subject, names) SELECT serial, subject, names FROM certificates;
CREATE TRIGGER certificates_names_insert AFTER INSERT ON certificates BEGIN
    INSERT INTO certificates_names (serial, subject, names) VALUES (new.serial, new.subject, new.names);
END;
CREATE TRIGGER certificates_names_delete AFTER DELETE ON certificates BEGIN
    DELETE FROM certificates_names WHERE serial = old.serial;
END;
CREATE TRIGGER certificates_names_update AFTER UPDATE OF serial, subject, names ON certificates BEGIN
    DELETE FROM certificates_names WHERE serial = old.serial;
    INSERT INTO certificates_names (serial, subject, names) VALUES (new.serial, new.subject, new.names);
END;
