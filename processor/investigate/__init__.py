"""Investigations: replaying recorded traffic (a file, a CSV of call records, or a time
range of a topic) through an isolated processor, and its report."""
