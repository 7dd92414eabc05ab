"""The local stand-ins for Klaviyo, S3 and Snowflake that development, tests and `make demo` run against."""
