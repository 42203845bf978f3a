DROP INDEX users_username_prefix_idx;
