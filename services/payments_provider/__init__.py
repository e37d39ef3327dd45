"""The payment provider's side of tokenbill (Stripe): its webhook events, disputes, the saved
payment method and the provider reconciliation. The charges themselves are activities/payments'."""
