"""The console face: logins (local and OpenID Connect) and, later, the pages."""
