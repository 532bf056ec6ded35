pytest_plugins = ["atriz_database.testing"]
