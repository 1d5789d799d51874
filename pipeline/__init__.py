"""The poll engine: plan the (source, query) tasks from the settings and the watchlist, run them
(the CLI's threads and the Prefect flow's task runner alike), tag what they fetched, and hand
each batch to the store with its cursor."""
