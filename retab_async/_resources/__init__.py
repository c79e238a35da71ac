"""The resources: ``base`` holds every endpoint a primitive shares
(``RunResource``); one module per primitive adds its options, body and filters."""
