use serve_runtime::{Handle, deployment, graph};

#[deployment]
#[derive(Default)]
struct Fruit;
#[deployment]
impl Fruit {
    async fn classify(&self, x: u32) -> u32 {
        x
    }
}

#[deployment]
#[derive(Default)]
struct Car;
#[deployment]
impl Car {
    async fn classify(&self, x: u32) -> u32 {
        x + 1
    }
}

#[deployment]
struct Dispatcher {
    fruit: Handle<Fruit>,
    car: Handle<Car>,
}
#[deployment]
impl Dispatcher {
    fn new(fruit: Handle<Fruit>, car: Handle<Car>) -> Self {
        Dispatcher { fruit, car }
    }
    async fn run(&self, x: u32) -> Result<u32, serve_runtime::Error> {
        let a = self.fruit.classify(x).await?;
        self.car.classify(a).await
    }
}

// The handles go in `new`'s order: `fruit`, then `car`.
#[graph]
async fn dispatching(x: u32) -> u32 {
    let d = Dispatcher::bind(Car::bind(), Fruit::bind());
    d.run(x)
}

fn main() {}
