package store

import "time"

// WithClock sets the archive's clock (Config.now) for tests that move time rather than
// sleep past the ingest gap or UploadConfig.YieldMax; use it as a newEnvAt option.
func WithClock(now func() time.Time) func(*Config) {
	return func(c *Config) { c.now = now }
}

// IngestGap is ingestGap, for tests that step the clock past it.
const IngestGap = ingestGap
