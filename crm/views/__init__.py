"""Plain Django views outside the admin: the load balancers' health endpoints."""
