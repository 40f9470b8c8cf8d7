package main

import (
	"errors"
	"flag"
	"fmt"

	"pacsd/store/s3"
)

// Environment variables that carry the S3 keys. Keys are never flags: flags show up in
// ps(1) and in shell history.
const (
	envS3AccessKey = "PACSD_S3_ACCESS_KEY"
	envS3SecretKey = "PACSD_S3_SECRET_KEY"
)

// registerS3Flags adds --s3-endpoint, --s3-bucket, --s3-region, --s3-prefix and
// --s3-secure (PACSD_S3_* in the environment, like every flag). The keys come from the
// environment only: see s3Keys.
func registerS3Flags(fs *flag.FlagSet, c *s3.Config) {
	fs.StringVar(&c.Endpoint, "s3-endpoint", c.Endpoint, "S3 endpoint host:port; empty keeps objects in a local folder (env PACSD_S3_ENDPOINT)")
	fs.StringVar(&c.Bucket, "s3-bucket", c.Bucket, "S3 bucket, created on first start (env PACSD_S3_BUCKET)")
	fs.StringVar(&c.Region, "s3-region", c.Region, "S3 region (env PACSD_S3_REGION)")
	fs.StringVar(&c.Prefix, "s3-prefix", c.Prefix, "key prefix inside the bucket (env PACSD_S3_PREFIX)")
	fs.BoolVar(&c.Secure, "s3-secure", c.Secure, "use HTTPS to the S3 endpoint (env PACSD_S3_SECURE)")
}

// s3Keys fills the keys from PACSD_S3_ACCESS_KEY and PACSD_S3_SECRET_KEY (getenv is
// os.Getenv outside tests).
func s3Keys(c *s3.Config, getenv func(string) string) error {
	c.AccessKey, c.SecretKey = getenv(envS3AccessKey), getenv(envS3SecretKey)
	if c.AccessKey == "" || c.SecretKey == "" {
		return fmt.Errorf("s3 %s: %s and %s are required", c.Endpoint, envS3AccessKey, envS3SecretKey)
	}
	return nil
}

// s3Error names where the keys come from when the server refused them.
func s3Error(err error) error {
	if errors.Is(err, s3.ErrAccess) {
		return fmt.Errorf("s3 (keys from %s, %s): %w", envS3AccessKey, envS3SecretKey, err)
	}
	return fmt.Errorf("s3: %w", err)
}
