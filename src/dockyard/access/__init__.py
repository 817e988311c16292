"""Who may do what: users, groups, robots, passwords, tokens, and the RBAC table."""
