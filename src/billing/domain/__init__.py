"""The pure domain: money, wallets and their ledger, top-up requests, invoices. No I/O, no frameworks."""
