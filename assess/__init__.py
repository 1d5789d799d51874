"""Pure judgements over records and the patient profile (no I/O, no clock: `today` is passed in).
eligibility: criteria -> items -> concepts -> verdict; profile: the watchlist's [patient];
relevance: a finding's score for this patient, with reasons."""
