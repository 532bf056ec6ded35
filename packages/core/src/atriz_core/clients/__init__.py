"""OpenID Connect clients: the apps (and any other relying party) signing users in at core."""
