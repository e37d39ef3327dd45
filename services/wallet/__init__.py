"""The wallet domain's commands and queries: the wallet and its history, spending, balance alert
thresholds and the notifications feed. Both front doors (the API, the console) call these."""
