-- An account's balance at a point in time and its statements read one range of this index:
-- the newest line at or before an instant, or the lines of a window in time order.
CREATE INDEX ledger_lines_account_created_at_idx ON ledger_lines (account_id, created_at, id);
