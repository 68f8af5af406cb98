-- Shared rate-limit counters, cheaper (src/ratelimit/postgres.rs): one row per
-- bucket holding its window, decided by ONE upsert statement. The upsert's row
-- lock (held only for that statement) serializes instances per bucket, instead of
-- 0004's PL/pgSQL function that took an advisory lock and ran five statements.
-- UNLOGGED: no WAL per request; a crash forgets at most a minute of counts.
DROP FUNCTION IF EXISTS tessera_rate_limit_take(TEXT, BIGINT, BIGINT);
DROP TABLE IF EXISTS rate_limit_windows;

CREATE UNLOGGED TABLE rate_limit_buckets (
    key       TEXT PRIMARY KEY,
    -- Seconds in which requests were admitted, oldest first, and how many in each.
    seconds   BIGINT[] NOT NULL,
    counts    BIGINT[] NOT NULL,
    -- The newest of `seconds`: the row can go once it has left the window.
    newest    BIGINT NOT NULL,
    -- The decision of the statement that last wrote the row (its RETURNING).
    allowed   BOOLEAN NOT NULL,
    remaining BIGINT NOT NULL,
    reset_at  BIGINT NOT NULL
);
CREATE INDEX rate_limit_buckets_newest ON rate_limit_buckets (newest);

-- One request against a window, as `Window::take` in src/ratelimit/mod.rs: drop
-- seconds that left (p_now - p_period, p_now], admit when fewer than p_limit
-- remain, then the headers. Pure: reads no table, so the upsert stays one
-- statement and its row lock is the only lock.
CREATE FUNCTION tessera_rate_limit_step(
    p_seconds BIGINT[], p_counts BIGINT[], p_now BIGINT, p_limit BIGINT, p_period BIGINT,
    OUT seconds BIGINT[], OUT counts BIGINT[], OUT newest BIGINT,
    OUT allowed BOOLEAN, OUT remaining BIGINT, OUT reset_at BIGINT
) LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    used  BIGINT := 0;
    freed BIGINT := 0;
    n     INT;
BEGIN
    seconds := '{}';
    counts := '{}';
    FOR i IN 1 .. coalesce(array_length(p_seconds, 1), 0) LOOP
        IF p_seconds[i] > p_now - p_period THEN
            seconds := seconds || p_seconds[i];
            counts := counts || p_counts[i];
            used := used + p_counts[i];
        END IF;
    END LOOP;
    allowed := used < p_limit;
    n := coalesce(array_length(seconds, 1), 0);
    IF allowed THEN
        -- A clock that stepped back counts in the newest second.
        IF n > 0 AND seconds[n] >= p_now THEN
            counts[n] := counts[n] + 1;
        ELSE
            seconds := seconds || p_now;
            counts := counts || 1::BIGINT;
            n := n + 1;
        END IF;
        used := used + 1;
    END IF;
    remaining := GREATEST(p_limit - used, 0);
    reset_at := p_now + p_period;
    FOR i IN 1 .. n LOOP
        freed := freed + counts[i];
        reset_at := seconds[i] + p_period;
        EXIT WHEN remaining > 0 OR used - freed < p_limit;
    END LOOP;
    newest := coalesce(seconds[n], p_now);
END
$$;
