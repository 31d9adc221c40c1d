CREATE SCHEMA {schema};
COMMENT ON SCHEMA {schema} IS 'prodready bookkeeping: the journal of applied migrations';
