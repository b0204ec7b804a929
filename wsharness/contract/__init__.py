"""The contract shared by the server, the load client, telemetry and the report.

Wire messages and close codes (:mod:`.protocol`), tokens (:mod:`.tokens`), telemetry
names (:mod:`.names`), the notification record (:mod:`.notification`) and the clock
(:mod:`.clock`).  These modules import nothing else of the project: every other layer
builds on them.
"""
