"""The HTTP front door: routes, request bodies, and the mapping of the service's errors and
replies to statuses, JSON and server-sent events (``_replies.problem_for``)."""
