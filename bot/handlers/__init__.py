"""Update handlers, one module per conversation."""
