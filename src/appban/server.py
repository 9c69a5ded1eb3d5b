"""The served application: being written for issue 4."""
