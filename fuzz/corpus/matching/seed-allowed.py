KEY = "sk_live_FixtureAllowedInline1Az2Sx"  # skguard:allow
