"""Bearer tokens: PyJWT behind the application's TokenVerifier and TokenIssuer ports."""
