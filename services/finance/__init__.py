"""Finance: invoices as their readers see them, revenue and the summary, the stored monthly
reports. Queries only; invoices are issued by the purchase and subscription activities."""
