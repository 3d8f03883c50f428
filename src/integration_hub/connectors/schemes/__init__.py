"""Signature schemes shared by several partners. A partner on one of them writes no signature
code of its own: its connector inherits `signed.SchemeSigned` (`verify`, `sign` and `respond`
delegated to its `scheme`) or, for Standard Webhooks, `signed.StandardWebhooksSigned` (which
also splits the standard payload, keyed by the message id).

- `standard_webhooks.StandardWebhooks`: Standard Webhooks / Svix (`svix-*` or `webhook-*`).
- `hmac.HmacScheme`: HMAC over the body, or over timestamp + separator + body, parametrized by
  hash, encoding, prefix and header (numbered headers too).
- `ecdsa.EcdsaScheme`: ECDSA P-256 over timestamp + body, base64 DER signature, public keys
  as base64 DER.
- `bearer.BearerToken`: a shared token in a header, optionally after `Bearer `.
- `basic.BasicAuth`: HTTP Basic credentials.

`common` holds what every scheme shares: the constant-time comparison of every expected value
against every presented one, and the cap on how many presented values are looked at.
"""
