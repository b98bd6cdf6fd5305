"""Rewards for confirmed irregularities: slabs, the appeal window, and payouts that happen exactly once.

    officer records "irregularity confirmed"
        -> scheduled (due after rewards.appeal_window; complainant told the amount and the date)
    scheduled --appeal--> held --decided for the company--> due
                               --decided for the appellant--> cancelled
    scheduled --due_at passes--> due --no bank details--> awaiting_bank --details given--> due
    due --claim--> paying --provider: paid--> paid (complainant told, with the bank reference)
                          --provider: failed--> failed --details corrected / rewards retry--> due
                          --no answer, crash--> paying (resumed after the lease with the same key)

Modules: slabs (the reward function), crypto and bank (bank details at rest), lifecycle (the
confirmed hook), appeals, payments (the state machine around provider calls), watch (APScheduler
date jobs + sweep), payouts/ (bank-file, razorpayx), webhook (RazorpayX's payout webhook), notices.
"""
