"""Core's `atriz` subcommands: `atriz users ...`, `atriz keys ...`, and the `atriz dev` step."""
