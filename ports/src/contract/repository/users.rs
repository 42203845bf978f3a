use std::future::Future;

use webchat_domain::{UserId, Username};

use super::Repositories;
use crate::contract::fixtures::{tag, user};
use crate::PortError;

/// UserRepository: storage, lookup by id and by name, and the case-insensitive
/// uniqueness of usernames.
pub async fn user_repository_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Repositories>,
{
    stores_and_reads_back_users(&make().await).await;
    usernames_are_unique_without_regard_to_case(&make().await).await;
    finds_users_by_name_prefix(&make().await).await;
    replaces_password_hashes(&make().await).await;
}

async fn replaces_password_hashes(repos: &Repositories) {
    let (dora, eve) = (user("Dora"), user("Eve"));
    repos.users.create(&dora).await.expect("create user");
    repos.users.create(&eve).await.expect("create user");
    let hash = format!("$argon2id$new-{}", tag());
    repos
        .users
        .set_password_hash(dora.id, &hash)
        .await
        .expect("set_password_hash");
    let mut expected = dora.clone();
    expected.password_hash.clone_from(&hash);
    assert_eq!(
        repos.users.get(dora.id).await.expect("get user"),
        Some(expected.clone()),
        "set_password_hash replaces the hash and nothing else"
    );
    assert_eq!(
        repos
            .users
            .find_by_username(&dora.username)
            .await
            .expect("find_by_username"),
        Some(expected),
        "the lookup by name sees the new hash"
    );
    assert_eq!(
        repos.users.get(eve.id).await.expect("get user"),
        Some(eve),
        "other users keep their hash"
    );
    let err = repos.users.set_password_hash(UserId::new(), &hash).await;
    assert!(
        matches!(err, Err(PortError::NotFound)),
        "set_password_hash of an unknown user is NotFound, got {err:?}"
    );
}

async fn finds_users_by_name_prefix(repos: &Repositories) {
    // A prefix of its own, so rows from other runs sharing the database never match.
    let stem = format!("p{}", &tag()[..8]);
    let names = [
        format!("{stem}_Bob"),
        format!("{stem}_alice"),
        format!("{stem}_Alina"),
        format!("{stem}x"),
    ];
    for name in &names {
        let mut u = user("p");
        u.username = Username::parse(name).unwrap();
        repos.users.create(&u).await.expect("create");
    }
    let found = |users: Vec<webchat_domain::User>| -> Vec<String> {
        users.into_iter().map(|u| u.username.into_inner()).collect()
    };
    assert_eq!(
        found(
            repos
                .users
                .search(&format!("{stem}_AL"), 10)
                .await
                .expect("search")
        ),
        vec![names[1].clone(), names[2].clone()],
        "search matches the prefix without regard to case, ordered by lowercased name"
    );
    assert_eq!(
        found(repos.users.search(&stem, 2).await.expect("search")).len(),
        2,
        "search returns at most `limit`"
    );
    assert!(
        repos
            .users
            .search(&format!("{stem}%"), 10)
            .await
            .expect("search")
            .is_empty()
            && repos
                .users
                .search(&format!("{stem}__"), 10)
                .await
                .expect("search")
                .is_empty(),
        "wildcards in the prefix match only themselves"
    );
    assert_eq!(
        found(
            repos
                .users
                .search(&format!("{stem}_"), 10)
                .await
                .expect("search")
        ),
        vec![names[1].clone(), names[2].clone(), names[0].clone()],
        "an underscore matches an underscore"
    );
}

async fn stores_and_reads_back_users(repos: &Repositories) {
    let alice = user("Alice");
    repos.users.create(&alice).await.expect("create user");

    let got = repos.users.get(alice.id).await.expect("get user");
    assert_eq!(got, Some(alice.clone()), "get returns the stored user");
    assert_eq!(
        repos
            .users
            .get(UserId::new())
            .await
            .expect("get unknown user"),
        None,
        "get of an unknown id is None"
    );

    let exact = repos.users.find_by_username(&alice.username).await;
    assert_eq!(
        exact.expect("find_by_username"),
        Some(alice.clone()),
        "find_by_username finds the user by their exact name"
    );
    let shouted = Username::parse(&alice.username.as_str().to_ascii_uppercase()).unwrap();
    let whispered = Username::parse(&alice.username.as_str().to_ascii_lowercase()).unwrap();
    for other_case in [shouted, whispered] {
        let found = repos.users.find_by_username(&other_case).await;
        assert_eq!(
            found.expect("find_by_username"),
            Some(alice.clone()),
            "find_by_username ignores ASCII case ({other_case})"
        );
    }

    let stranger = user("nobody");
    assert_eq!(
        repos
            .users
            .find_by_username(&stranger.username)
            .await
            .expect("find_by_username"),
        None,
        "find_by_username of an unknown name is None"
    );
}

async fn usernames_are_unique_without_regard_to_case(repos: &Repositories) {
    let bob = user("Bob");
    repos.users.create(&bob).await.expect("create user");

    let mut same_name = user("Bob");
    same_name.username = bob.username.clone();
    let err = repos.users.create(&same_name).await;
    assert!(
        matches!(err, Err(PortError::Conflict(_))),
        "create with a taken username is a Conflict, got {err:?}"
    );

    let mut other_case = user("Bob");
    other_case.username = Username::parse(&bob.username.as_str().to_ascii_uppercase()).unwrap();
    let err = repos.users.create(&other_case).await;
    assert!(
        matches!(err, Err(PortError::Conflict(_))),
        "create with a taken username in another case is a Conflict, got {err:?}"
    );
    assert_eq!(
        repos.users.get(other_case.id).await.expect("get user"),
        None,
        "a refused create stores nothing"
    );
    assert_eq!(
        repos
            .users
            .find_by_username(&bob.username)
            .await
            .expect("find_by_username"),
        Some(bob),
        "the first holder of a name keeps it"
    );

    let carol = user("Carol");
    repos
        .users
        .create(&carol)
        .await
        .expect("a different username is accepted");
}
