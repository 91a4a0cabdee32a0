-- Package sets arrive DEFLATE-compressed (encoding 'deflate'): store them
-- out of line without TOAST trying to compress them again with pglz, which
-- cost the server more CPU than the rest of the report's writes and saves
-- nothing on compressed bytes. Rows stored before keep their form; the
-- setting applies to values written from now on.
ALTER TABLE package_sets ALTER COLUMN data SET STORAGE EXTERNAL;
