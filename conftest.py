pytest_plugins = ["atriz_database.testing", "atriz_core.testing"]
