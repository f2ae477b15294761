"""Issue tracker adapters: one module per vendor behind the `IssueTracker` port."""
