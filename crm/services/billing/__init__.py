"""Money: checkout, payments and subscriptions, commissions, MRR movements."""
