"""target-klaviyo: rows into Klaviyo events and profiles through the bulk APIs, nothing lost."""
