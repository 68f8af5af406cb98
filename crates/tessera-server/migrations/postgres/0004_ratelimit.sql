-- Shared rate-limit counters (src/ratelimit/postgres.rs): per bucket, the requests
-- admitted in each second of the last 60. UNLOGGED: no WAL per request; a crash
-- forgets at most a minute of counts.
CREATE UNLOGGED TABLE rate_limit_windows (
    key    TEXT NOT NULL,
    second BIGINT NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (key, second)
);

-- Counts one request against `p_key` when fewer than `p_limit` were admitted in
-- seconds (p_now - 60, p_now]; the same arithmetic as `Window::take` in
-- src/ratelimit/mod.rs. The advisory lock serializes instances per bucket; being
-- VOLATILE (the default), every statement below sees rows committed before the
-- lock was granted.
CREATE FUNCTION tessera_rate_limit_take(
    p_key TEXT, p_now BIGINT, p_limit BIGINT,
    OUT allowed BOOLEAN, OUT remaining BIGINT, OUT reset_at BIGINT
) LANGUAGE plpgsql AS $$
DECLARE
    used  BIGINT;
    freed BIGINT := 0;
    b     RECORD;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('tessera_rate_limit:' || p_key, 0));
    DELETE FROM rate_limit_windows WHERE key = p_key AND second <= p_now - 60;
    SELECT COALESCE(sum(count), 0) INTO used FROM rate_limit_windows WHERE key = p_key;
    allowed := used < p_limit;
    IF allowed THEN
        -- A clock that stepped back counts in the newest second.
        UPDATE rate_limit_windows SET count = count + 1
         WHERE key = p_key AND second = (
             SELECT max(second) FROM rate_limit_windows WHERE key = p_key AND second >= p_now);
        IF NOT FOUND THEN
            INSERT INTO rate_limit_windows (key, second, count) VALUES (p_key, p_now, 1);
        END IF;
        used := used + 1;
    END IF;
    remaining := GREATEST(p_limit - used, 0);
    reset_at := p_now + 60;
    FOR b IN SELECT second, count FROM rate_limit_windows WHERE key = p_key ORDER BY second LOOP
        freed := freed + b.count;
        reset_at := b.second + 60;
        EXIT WHEN remaining > 0 OR used - freed < p_limit;
    END LOOP;
END
$$;
