//! The two producer lanes: an order at rest leaves at once through the quick lane, a
//! burst is batched, and switching the quick lane off batches everything. Every record
//! is acknowledged and lands on the topic whichever lane carried it.

use futures::future::join_all;
use time::OffsetDateTime;
use uuid::Uuid;

use order::{OrderEvent, ValidOrder};
use producer_svc::publisher::Lane;

use crate::helpers::{spawn_app, spawn_app_with, test_settings};

fn event(customer: &str) -> OrderEvent {
    let order = ValidOrder {
        sku: "FLASH-1".to_owned(),
        quantity: 1,
        customer_id: customer.to_owned(),
    };
    OrderEvent::new(order, Uuid::now_v7(), OffsetDateTime::now_utc())
}

#[tokio::test]
async fn an_order_at_rest_takes_the_quick_lane_and_a_burst_is_batched() {
    let app = spawn_app().await;
    for i in 0..3 {
        let ack = app
            .publisher
            .publish(&event(&format!("lone-{i}")))
            .await
            .expect("acknowledged");
        assert_eq!(ack.lane, Lane::Quick, "order {i}, nothing else outstanding");
    }

    let burst: Vec<OrderEvent> = (0..200).map(|i| event(&format!("burst-{i}"))).collect();
    let acks = join_all(burst.iter().map(|e| app.publisher.publish(e))).await;
    let lanes: Vec<Lane> = acks
        .into_iter()
        .map(|a| a.expect("every order of the burst acknowledged").lane)
        .collect();
    let quick = lanes.iter().filter(|l| **l == Lane::Quick).count();
    assert!(
        quick <= 10,
        "{quick} of 200 concurrent orders took the quick lane; a burst must be batched"
    );
    assert_eq!(app.records(203).len(), 203, "every order is on the topic");
}

#[tokio::test]
async fn with_the_quick_lane_off_every_order_is_batched() {
    let mut settings = test_settings(3).await;
    settings.ingest.quick_lane = false;
    let app = spawn_app_with(settings).await;
    let ack = app
        .publisher
        .publish(&event("lone"))
        .await
        .expect("acknowledged");
    assert_eq!(ack.lane, Lane::Batching);
    assert_eq!(app.records(1).len(), 1);
}
