"""Users and their roles, shared by every feature of core: `repository` holds their SQL."""
