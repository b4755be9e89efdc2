"""Users, roles, agencies, sign-up and sign-in, server-side sessions."""
