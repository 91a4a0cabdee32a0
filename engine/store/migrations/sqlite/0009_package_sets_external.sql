-- PostgreSQL's migration 9 stops TOAST compressing the already
-- DEFLATE-compressed package sets; SQLite has no such setting. This
-- migration keeps the two backends' schema versions in step.
SELECT 1;
