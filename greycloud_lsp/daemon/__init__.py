"""The daemon's side: one process per user, one `GreyCloudLanguageServer` per connection."""
