"""What the bot says: vetted content, the inbound-text matcher, segment counting. Pure Python."""
