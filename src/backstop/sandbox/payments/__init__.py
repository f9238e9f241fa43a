"""The sandbox payment processor: test cards, card tokens, hosted checkout and signed webhooks for
the sandbox gateway (`backstop.billing.gateways.sandbox`). It moves no money."""
